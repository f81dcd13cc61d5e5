//! Generic planning: turns Terraform's proposed new state into a planned state by applying
//! defaults, unknown markers for computed values and the plan modifiers. Resources refine the
//! result afterwards (`Resource::modify_plan`).

use super::path::AttrPath;
use super::schema::{Block, Nesting, PlanModifier, Schema};
use app_cty::Value;
use std::collections::BTreeMap;

pub struct Planned {
    pub state: Value,
    pub requires_replace: Vec<AttrPath>,
    /// Whether anything the user controls differs from the prior state.
    pub changed: bool,
}

pub fn plan(schema: &Schema, prior: &Value, proposed: &Value, config: &Value) -> Planned {
    let create = prior.is_null();
    let changed = create || !config_view_equal(&schema.block, prior, proposed);
    let state = plan_block(&schema.block, prior, proposed, config, create, changed);
    let mut requires_replace = Vec::new();
    if !create {
        collect_replace(&schema.block, prior, &state, AttrPath::root(), &mut requires_replace);
    }
    Planned { state, requires_replace, changed }
}

/// Compares two objects on what the configuration controls (non-computed-only attributes).
pub fn config_view_equal(block: &Block, a: &Value, b: &Value) -> bool {
    if a.is_null() || b.is_null() {
        return a.is_null() == b.is_null();
    }
    for attr in &block.attributes {
        if attr.computed && !attr.optional {
            continue;
        }
        if attr.write_only {
            continue;
        }
        if a.attr(&attr.name) != b.attr(&attr.name) {
            return false;
        }
    }
    for nb in &block.blocks {
        let (x, y) = (a.attr(&nb.name).unwrap_or(&Value::Null), b.attr(&nb.name).unwrap_or(&Value::Null));
        match nb.nesting {
            Nesting::Single | Nesting::Group => {
                if !config_view_equal(&nb.block, x, y) {
                    return false;
                }
            }
            _ => {
                let (xs, ys) = (x.as_list().unwrap_or(&[]), y.as_list().unwrap_or(&[]));
                if xs.len() != ys.len() || xs.iter().zip(ys).any(|(p, q)| !config_view_equal(&nb.block, p, q)) {
                    return false;
                }
            }
        }
    }
    true
}

fn plan_block(block: &Block, prior: &Value, proposed: &Value, config: &Value, create: bool, changed: bool) -> Value {
    if proposed.is_null() || proposed.is_unknown() {
        return proposed.clone();
    }
    let mut out = BTreeMap::new();
    for attr in &block.attributes {
        let p = proposed.attr(&attr.name).cloned().unwrap_or(Value::Null);
        let c = config.attr(&attr.name).unwrap_or(&Value::Null);
        let value = if attr.write_only {
            Value::Null
        } else if attr.computed && c.is_null() {
            if let Some(default) = &attr.default {
                default.clone()
            } else if create || (changed && !attr.has(PlanModifier::UseStateForUnknown)) {
                Value::Unknown
            } else if attr.has(PlanModifier::UseStateForUnknown) {
                prior.attr(&attr.name).cloned().unwrap_or(p)
            } else {
                p
            }
        } else {
            p
        };
        out.insert(attr.name.clone(), value);
    }
    for nb in &block.blocks {
        let p = proposed.attr(&nb.name).cloned().unwrap_or(Value::Null);
        let c = config.attr(&nb.name).unwrap_or(&Value::Null);
        let pr = prior.attr(&nb.name).unwrap_or(&Value::Null);
        let value = match nb.nesting {
            Nesting::Single | Nesting::Group => plan_block(&nb.block, pr, &p, c, create || pr.is_null(), changed),
            Nesting::List => match (&p, c) {
                (Value::List(items), Value::List(cfg)) => Value::List(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            let prior_item = pr.as_list().and_then(|l| l.get(i)).unwrap_or(&Value::Null);
                            plan_block(
                                &nb.block,
                                prior_item,
                                item,
                                cfg.get(i).unwrap_or(&Value::Null),
                                create || prior_item.is_null(),
                                changed,
                            )
                        })
                        .collect(),
                ),
                _ => p,
            },
            Nesting::Set | Nesting::Map => p,
        };
        out.insert(nb.name.clone(), value);
    }
    Value::Object(out)
}

fn collect_replace(block: &Block, prior: &Value, planned: &Value, at: AttrPath, out: &mut Vec<AttrPath>) {
    if prior.is_null() || planned.is_null() {
        return;
    }
    for attr in &block.attributes {
        if attr.has(PlanModifier::RequiresReplace) && prior.attr(&attr.name) != planned.attr(&attr.name) {
            out.push(at.clone().then_attr(&attr.name));
        }
    }
    for nb in &block.blocks {
        if matches!(nb.nesting, Nesting::Single | Nesting::Group) {
            let (p, q) = (prior.attr(&nb.name).unwrap_or(&Value::Null), planned.attr(&nb.name).unwrap_or(&Value::Null));
            collect_replace(&nb.block, p, q, at.clone().then_attr(&nb.name), out);
        }
    }
}

/// Replaces every unknown with null: a state returned after a failure must be wholly known.
pub fn unknowns_to_null(v: &Value) -> Value {
    match v {
        Value::Unknown => Value::Null,
        Value::List(items) => Value::List(items.iter().map(unknowns_to_null).collect()),
        Value::Set(items) => Value::Set(items.iter().map(unknowns_to_null).collect()),
        Value::Tuple(items) => Value::Tuple(items.iter().map(unknowns_to_null).collect()),
        Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), unknowns_to_null(v))).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), unknowns_to_null(v))).collect()),
        other => other.clone(),
    }
}

/// Sets one attribute of an object value (no-op on non-objects).
pub fn set_attr(obj: &mut Value, name: &str, value: Value) {
    if let Value::Object(m) = obj {
        m.insert(name.to_string(), value);
    }
}

/// Mutable access to a nested object attribute.
pub fn attr_mut<'a>(obj: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    match obj {
        Value::Object(m) => m.get_mut(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::Attribute;

    fn schema() -> Schema {
        Schema {
            version: 0,
            block: Block::new("t")
                .attr(Attribute::string("id").computed().use_state_for_unknown())
                .attr(Attribute::string("name").required().requires_replace())
                .attr(Attribute::string("env").optional())
                .attr(Attribute::string("url").computed())
                .attr(Attribute::number("keep").default(Value::number_i64(1))),
        }
    }

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn create_marks_computed_unknown_and_applies_defaults() {
        let s = schema();
        let cfg =
            obj(&[("id", Value::Null), ("name", Value::string("a")), ("env", Value::Null), ("url", Value::Null), ("keep", Value::Null)]);
        let p = plan(&s, &Value::Null, &cfg, &cfg);
        assert_eq!(p.state.attr("url"), Some(&Value::Unknown));
        assert_eq!(p.state.attr("id"), Some(&Value::Unknown));
        assert_eq!(p.state.attr("keep"), Some(&Value::number_i64(1)));
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn no_change_keeps_prior_and_update_marks_unknown() {
        let s = schema();
        let prior = obj(&[
            ("id", Value::string("x")),
            ("name", Value::string("a")),
            ("env", Value::Null),
            ("url", Value::string("u")),
            ("keep", Value::number_i64(1)),
        ]);
        let cfg =
            obj(&[("id", Value::Null), ("name", Value::string("a")), ("env", Value::Null), ("url", Value::Null), ("keep", Value::Null)]);
        let p = plan(&s, &prior, &prior, &cfg);
        assert_eq!(p.state, prior);
        assert!(!p.changed);

        let mut proposed = prior.clone();
        set_attr(&mut proposed, "env", Value::string("e"));
        let mut cfg2 = cfg.clone();
        set_attr(&mut cfg2, "env", Value::string("e"));
        let p = plan(&s, &prior, &proposed, &cfg2);
        assert!(p.changed);
        assert_eq!(p.state.attr("url"), Some(&Value::Unknown));
        assert_eq!(p.state.attr("id"), Some(&Value::string("x")));

        let mut proposed = prior.clone();
        set_attr(&mut proposed, "name", Value::string("b"));
        let p = plan(&s, &prior, &proposed, &cfg);
        assert_eq!(p.requires_replace, vec![AttrPath::attr("name")]);
    }
}
