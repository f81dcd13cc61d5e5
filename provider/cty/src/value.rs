//! cty values.

use std::collections::BTreeMap;

use crate::{Number, Type};

/// A cty value. The type lives beside it (schemas give it); only values of
/// `dynamic`-typed positions carry their own type, as [`Value::Dynamic`].
#[derive(Debug, Clone)]
pub enum Value {
    /// A null of whatever type the position has.
    Null,
    /// An unknown value (refinements are not kept).
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    /// Set elements in wire order; compared as an unordered multiset.
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
    /// A value in a `dynamic`-typed position, with its concrete type. The
    /// inner value may be `Null` or `Unknown` of that type.
    Dynamic(Box<Type>, Box<Value>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) | (Value::Unknown, Value::Unknown) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => a == b,
            (Value::Set(a), Value::Set(b)) => multiset_eq(a, b),
            (Value::Map(a), Value::Map(b)) | (Value::Object(a), Value::Object(b)) => a == b,
            (Value::Dynamic(ta, va), Value::Dynamic(tb, vb)) => ta == tb && va == vb,
            _ => false,
        }
    }
}

fn multiset_eq(a: &[Value], b: &[Value]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    'outer: for x in a {
        for (i, y) in b.iter().enumerate() {
            if !used[i] && x == y {
                used[i] = true;
                continue 'outer;
            }
        }
        return false;
    }
    true
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// True if no `Unknown` appears anywhere in the value.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
            Value::List(vs) | Value::Set(vs) | Value::Tuple(vs) => vs.iter().all(Value::is_wholly_known),
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, v) => v.is_wholly_known(),
        }
    }

    /// An attribute of an `Object` value.
    pub fn attr(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.get(name),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// Elements of a `List`, `Set` or `Tuple`.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(vs) | Value::Set(vs) | Value::Tuple(vs) => Some(vs),
            _ => None,
        }
    }

    /// Entries of a `Map` or `Object`.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The inner value of a `Dynamic` (recursively); any other value as is.
    pub fn strip_dynamic(&self) -> &Value {
        let mut v = self;
        while let Value::Dynamic(_, inner) = v {
            v = inner;
        }
        v
    }

    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn number_i64(i: i64) -> Value {
        Value::Number(Number::from_i64(i))
    }

    /// A null of the given type (always `Value::Null`).
    pub fn null_for(_ty: &Type) -> Value {
        Value::Null
    }

    /// The type implied by a value's structure, used when a plain value is
    /// written to a `dynamic` position: `Null`/`Unknown` imply `dynamic`,
    /// collections take the common element type of their elements (`dynamic`
    /// when empty or when elements disagree), `Dynamic` values their own type.
    pub fn implied_type(&self) -> Type {
        match self {
            Value::Null | Value::Unknown => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(vs) => Type::List(Box::new(common_type(vs.iter()))),
            Value::Set(vs) => Type::Set(Box::new(common_type(vs.iter()))),
            Value::Map(m) => Type::Map(Box::new(common_type(m.values()))),
            Value::Object(m) => Type::object(m.iter().map(|(k, v)| (k.clone(), v.implied_type()))),
            Value::Tuple(vs) => Type::Tuple(vs.iter().map(Value::implied_type).collect()),
            Value::Dynamic(t, _) => (**t).clone(),
        }
    }
}

fn common_type<'a>(vals: impl Iterator<Item = &'a Value>) -> Type {
    let mut acc = Type::Dynamic;
    for v in vals {
        match unify(&acc, &v.implied_type()) {
            Some(t) => acc = t,
            None => return Type::Dynamic,
        }
    }
    acc
}

/// The most specific type both may be written as, treating `dynamic` (from
/// nulls, unknowns and empty collections) as a wildcard.
fn unify(a: &Type, b: &Type) -> Option<Type> {
    match (a, b) {
        (Type::Dynamic, t) | (t, Type::Dynamic) => Some(t.clone()),
        (Type::List(x), Type::List(y)) => Some(Type::List(Box::new(unify(x, y)?))),
        (Type::Set(x), Type::Set(y)) => Some(Type::Set(Box::new(unify(x, y)?))),
        (Type::Map(x), Type::Map(y)) => Some(Type::Map(Box::new(unify(x, y)?))),
        (Type::Object { attrs: x, optional: ox }, Type::Object { attrs: y, .. }) => {
            if x.len() != y.len() {
                return None;
            }
            let mut attrs = BTreeMap::new();
            for (k, tx) in x {
                attrs.insert(k.clone(), unify(tx, y.get(k)?)?);
            }
            Some(Type::Object { attrs, optional: ox.clone() })
        }
        (Type::Tuple(x), Type::Tuple(y)) if x.len() == y.len() => {
            Some(Type::Tuple(x.iter().zip(y).map(|(p, q)| unify(p, q)).collect::<Option<_>>()?))
        }
        (x, y) if x == y => Some(x.clone()),
        _ => None,
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        Value::Number(n)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::number_i64(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_equality_is_unordered() {
        let a = Value::Set(vec![Value::from("x"), Value::from("y"), Value::from("x")]);
        let b = Value::Set(vec![Value::from("y"), Value::from("x"), Value::from("x")]);
        let c = Value::Set(vec![Value::from("y"), Value::from("y"), Value::from("x")]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(Value::List(vec![Value::from("x"), Value::from("y")]), Value::List(vec![Value::from("y"), Value::from("x")]));
    }

    #[test]
    fn implied_types() {
        let v = Value::List(vec![
            Value::Null,
            Value::Object([("a".to_string(), Value::Null)].into_iter().collect()),
            Value::Object([("a".to_string(), Value::from(1))].into_iter().collect()),
        ]);
        assert_eq!(v.implied_type(), Type::list(Type::object([("a", Type::Number)])));
        let mixed = Value::List(vec![Value::from(1), Value::from("x")]);
        assert_eq!(mixed.implied_type(), Type::list(Type::Dynamic));
        assert_eq!(Value::Map(BTreeMap::new()).implied_type(), Type::map(Type::Dynamic));
        assert_eq!(Value::Tuple(vec![Value::from(true), Value::Unknown]).implied_type(), Type::Tuple(vec![Type::Bool, Type::Dynamic]));
    }

    #[test]
    fn accessors() {
        let v = Value::Object([("a".to_string(), Value::Unknown)].into_iter().collect());
        assert!(!v.is_wholly_known());
        assert!(v.attr("a").is_some_and(Value::is_unknown));
        assert!(v.attr("b").is_none());
        assert_eq!(v.as_map().map(BTreeMap::len), Some(1));
        let d = Value::Dynamic(Box::new(Type::String), Box::new(Value::from("s")));
        assert_eq!(d.strip_dynamic().as_str(), Some("s"));
        assert!(Value::null_for(&Type::String).is_null());
    }
}
